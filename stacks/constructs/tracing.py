"""OpenTelemetry traces from both runtimes, without one X-Ray resource policy per stack.

Two sources of spans: the AWS Distro for OpenTelemetry (ADOT) in each image, which the container
starts under `opentelemetry-instrument` only when AGENT_OBSERVABILITY_ENABLED is true (an image
without tracing pays no instrumentation at start-up), and the platform's own spans for each
runtime, delivered to X-Ray by CloudWatch Logs (the L2's `tracing_enabled`).

The L2 creates an X-Ray resource policy in every stack that enables tracing (aws-cdk issue
37962), and an account holds few. The kit turns that off (`manage_delivery_resource_policy=False`)
and creates one policy that admits delivery for every AgentCore runtime of the account and
Region, in the one environment whose `observability.trace_delivery_policy` is `create`.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_xray as xray
from constructs import Construct

# What ADOT reads inside an AgentCore runtime (the platform sets the exporters' endpoints).
TRACING_ENVIRONMENT = {
    # The container command wraps the server in opentelemetry-instrument only when this is true.
    "AGENT_OBSERVABILITY_ENABLED": "true",
    "OTEL_PYTHON_DISTRO": "aws_distro",
    "OTEL_PYTHON_CONFIGURATOR": "aws_configurator",
    # The platform polls /ping about every 2 s: a span for each would bury the real requests.
    "OTEL_PYTHON_EXCLUDED_URLS": "/ping$",
}
# Unique in an account and Region: a second environment that tries to create it fails its deploy
# instead of quietly adding another policy (set its trace_delivery_policy to existing).
POLICY_NAME = "agent-kit-trace-delivery"


def delivery_policy_document(stack: Stack) -> dict[str, object]:
    """The statement the L2 writes per runtime, widened to every runtime of this account and Region."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AgentCoreRuntimeTraceDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                # X-Ray takes no resource for PutTraceSegments; the conditions scope it.
                "Action": "xray:PutTraceSegments",
                "Resource": "*",
                "Condition": {
                    "ForAllValues:ArnLike": {
                        "logs:LogGeneratingResourceArns": [
                            f"arn:{Aws.PARTITION}:bedrock-agentcore:{Aws.REGION}:{Aws.ACCOUNT_ID}:runtime/*"
                        ]
                    },
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:delivery-source:*"
                    },
                },
            }
        ],
    }


class TraceDeliveryPolicy(Construct):
    """The account's and Region's one X-Ray resource policy for AgentCore runtime trace delivery."""

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.policy = xray.CfnResourcePolicy(
            self,
            "Policy",
            policy_name=POLICY_NAME,
            policy_document=stack.to_json_string(delivery_policy_document(stack)),
        )
        self.policy.apply_removal_policy(removal_policy)
