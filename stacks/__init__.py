"""CDK stacks and constructs of the long-running agent kit."""
