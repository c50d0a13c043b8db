"""The simulated Google Cloud APIs: VPC Access, Cloud SQL Admin, Cloud Run, Secret Manager, Compute (REST) and
Cloud Monitoring (gRPC), with generic fault injection. `simulator.server.Simulator` serves them."""
