"""The HTTP endpoints of the local stack: moto, the one endpoint that routes each request by its service,
the Athena and Glue facades, and the control endpoint of `tributary up`."""
