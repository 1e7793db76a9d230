"""Code shared by the Tributary functions (packaged as the CommonLayer).

Modules: ``contracts`` (dataset contract model and loader), ``models`` (manifests, task inputs and
results), ``objects`` (raw object naming and identity), ``s3_uri`` and ``artifacts`` (S3 documents),
``runs`` and ``lineage`` (DynamoDB data access), ``settings`` (configuration from env vars),
``aws`` (lazily created boto3 clients).
"""
