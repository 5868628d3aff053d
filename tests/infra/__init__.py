"""CDK stack tests: the synthesised template against the topology, cdk-nag, moto."""
