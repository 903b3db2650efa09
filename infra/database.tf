resource "google_sql_database_instance" "main" {
  name                = var.service_name
  database_version    = "POSTGRES_15"
  region              = var.region
  deletion_protection = var.deletion_protection

  settings {
    tier              = var.db_tier
    edition           = "ENTERPRISE"
    availability_type = var.db_availability_type
    disk_type         = "PD_SSD"
    disk_size         = var.db_disk_size_gb
    disk_autoresize   = true

    # Private IP only: no address on the internet. Cloud Run's Cloud SQL connection reaches it through
    # the service's Direct VPC egress and hands the app a unix socket under /cloudsql.
    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.main.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
      start_time                     = "05:00"
    }

    maintenance_window {
      day  = 7
      hour = 6
    }

    insights_config {
      query_insights_enabled = true
    }
  }

  depends_on = [google_service_networking_connection.services]
}

resource "google_sql_database" "app" {
  name     = "recharge"
  instance = google_sql_database_instance.main.name
}

# Letters and digits only, so it needs no escaping in a connection string.
resource "random_password" "database" {
  length  = 32
  special = false
}

resource "google_sql_user" "app" {
  name     = var.service_name
  instance = google_sql_database_instance.main.name
  password = random_password.database.result
}
