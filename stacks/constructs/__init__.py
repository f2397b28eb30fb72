"""One construct per logical unit; stacks compose them and wire grants."""
