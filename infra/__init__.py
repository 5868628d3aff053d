"""The CDK app (aws-cdk-lib v2) that deploys backorders: built from `backorders.topology`.

Nothing here is imported by the functions or by the local runtime (no CDK in a Lambda
bundle); it only reads the topology, as the local runtime does.
"""
