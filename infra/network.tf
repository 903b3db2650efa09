resource "google_compute_network" "main" {
  name                    = var.service_name
  auto_create_subnetworks = false

  depends_on = [google_project_service.apis]
}

# Cloud Run reaches the VPC through Direct VPC egress, taking its addresses from this subnet.
resource "google_compute_subnetwork" "run" {
  name                     = "${var.service_name}-run"
  network                  = google_compute_network.main.id
  region                   = var.region
  ip_cidr_range            = var.run_subnet_cidr
  private_ip_google_access = true
}

# Private services access: Cloud SQL and Memorystore take addresses from this range, inside the VPC only.
resource "google_compute_global_address" "services" {
  name          = "${var.service_name}-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = google_compute_network.main.id
}

resource "google_service_networking_connection" "services" {
  network                 = google_compute_network.main.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.services.name]
}
