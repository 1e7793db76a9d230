"""The local stack: Tributary's SAM application on one machine (moto for AWS, our Step Functions engine)."""
