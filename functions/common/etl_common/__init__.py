"""Code shared by the Tributary functions (packaged as the CommonLayer).

Modules: ``contracts`` (dataset contract model and loader), ``models`` (manifests, task inputs and
results), ``objects`` (raw object naming and identity), ``s3_uri`` and ``artifacts`` (S3 documents),
``runs`` and ``lineage`` (DynamoDB data access), ``settings`` (configuration from env vars),
``aws`` (lazily created boto3 clients).
"""

import warnings

# Several invocations rightly publish no metric (validate's prepare mode, a second approval decision, a
# sweep with nothing to enqueue); Powertools then warns "No application metrics to publish" on every one.
# Its documentation suggests silencing that warning for functions that do not always publish, which is
# every Tributary function that uses Metrics.
warnings.filterwarnings("ignore", "No application metrics to publish")
