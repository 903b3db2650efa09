# Shared rate-limit counters, catalog cache and key revocations for every instance.
resource "google_redis_instance" "main" {
  name               = var.service_name
  tier               = var.redis_tier
  memory_size_gb     = var.redis_memory_size_gb
  region             = var.region
  redis_version      = "REDIS_7_0"
  authorized_network = google_compute_network.main.id
  connect_mode       = "PRIVATE_SERVICE_ACCESS"
  auth_enabled       = true

  depends_on = [google_service_networking_connection.services]
}
