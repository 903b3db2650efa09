locals {
  # Cloud Run mounts the Cloud SQL connection as a unix socket; pg takes its directory as `host`.
  database_url = "postgresql://${google_sql_user.app.name}@/${google_sql_database.app.name}?host=/cloudsql/${google_sql_database_instance.main.connection_name}"

  service_env = {
    NODE_ENV             = "production"
    DATABASE_URL         = local.database_url
    DB_POOL_SIZE         = tostring(var.db_pool_size)
    LOG_FORMAT           = "gcp"
    GOOGLE_CLOUD_PROJECT = var.project_id
    TRUST_PROXY          = "1"
    SHUTDOWN_TIMEOUT_MS  = "8000"
  }
  # Environment variable => secret; pg reads PGPASSWORD itself, so the password is never in DATABASE_URL.
  service_secrets = {
    ADMIN_API_KEY = "admin-api-key"
    PGPASSWORD    = "database-password"
    REDIS_URL     = "redis-url"
  }
  job_env = {
    NODE_ENV     = "production"
    DATABASE_URL = local.database_url
  }
  job_secrets = {
    PGPASSWORD = "database-password"
  }
}

resource "google_cloud_run_v2_service" "api" {
  name                = var.service_name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.run.email
    timeout                          = "30s"
    max_instance_request_concurrency = var.concurrency

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    vpc_access {
      egress = "PRIVATE_RANGES_ONLY"

      network_interfaces {
        network    = google_compute_network.main.id
        subnetwork = google_compute_subnetwork.run.id
      }
    }

    volumes {
      name = "cloudsql"

      cloud_sql_instance {
        instances = [google_sql_database_instance.main.connection_name]
      }
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.service_env

        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.service_secrets

        content {
          name = env.key

          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.app[env.value].secret_id
              version = "latest"
            }
          }
        }
      }

      volume_mounts {
        name       = "cloudsql"
        mount_path = "/cloudsql"
      }

      startup_probe {
        period_seconds    = 2
        timeout_seconds   = 2
        failure_threshold = 30

        http_get {
          path = "/readyz"
        }
      }

      liveness_probe {
        period_seconds    = 15
        timeout_seconds   = 3
        failure_threshold = 3

        http_get {
          path = "/healthz"
        }
      }
    }
  }

  lifecycle {
    # The deploy workflow owns the image and the traffic split; Terraform owns everything else.
    ignore_changes = [
      client,
      client_version,
      traffic,
      template[0].revision,
      template[0].labels,
      template[0].containers[0].image,
    ]
  }

  depends_on = [
    google_project_iam_member.run_cloudsql,
    google_secret_manager_secret_iam_member.run,
    google_secret_manager_secret_version.app,
  ]
}

resource "google_cloud_run_v2_service_iam_member" "public" {
  count = var.allow_unauthenticated ? 1 : 0

  name     = google_cloud_run_v2_service.api.name
  location = google_cloud_run_v2_service.api.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# The deploy workflow points this job at the new image and runs it before the new revision takes traffic.
resource "google_cloud_run_v2_job" "migrate" {
  name                = "${var.service_name}-migrate"
  location            = var.region
  deletion_protection = var.deletion_protection

  template {
    task_count = 1

    template {
      service_account = google_service_account.run.email
      max_retries     = 1
      timeout         = "300s"

      vpc_access {
        egress = "PRIVATE_RANGES_ONLY"

        network_interfaces {
          network    = google_compute_network.main.id
          subnetwork = google_compute_subnetwork.run.id
        }
      }

      volumes {
        name = "cloudsql"

        cloud_sql_instance {
          instances = [google_sql_database_instance.main.connection_name]
        }
      }

      containers {
        image   = var.image
        command = ["node"]
        args    = ["dist/db/migrate-cli.js"]

        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }

        dynamic "env" {
          for_each = local.job_env

          content {
            name  = env.key
            value = env.value
          }
        }

        dynamic "env" {
          for_each = local.job_secrets

          content {
            name = env.key

            value_source {
              secret_key_ref {
                secret  = google_secret_manager_secret.app[env.value].secret_id
                version = "latest"
              }
            }
          }
        }

        volume_mounts {
          name       = "cloudsql"
          mount_path = "/cloudsql"
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [
      client,
      client_version,
      template[0].labels,
      template[0].template[0].containers[0].image,
    ]
  }

  depends_on = [
    google_project_iam_member.run_cloudsql,
    google_secret_manager_secret_iam_member.run,
    google_secret_manager_secret_version.app,
  ]
}
