locals {
  # Cloud Run mounts the Cloud SQL connection as a unix socket; pg takes its directory as `host`.
  database_url = "postgresql://${google_sql_user.app.name}@/${google_sql_database.app.name}?host=/cloudsql/${google_sql_database_instance.main.connection_name}"

  # The dispatcher needs CPU between requests: where it runs, CPU stays allocated (docs/deploy.md).
  dispatcher_in_api = var.dispatcher == "api"

  # The carrier and the dispatcher's pace, the same for the API and the worker.
  carrier_env = merge(
    {
      CARRIER                 = var.carrier
      CARRIER_TIMEOUT_MS      = tostring(var.carrier_timeout_ms)
      CARRIER_MAX_ATTEMPTS    = tostring(var.carrier_max_attempts)
      CARRIER_RETRY_BASE_MS   = tostring(var.carrier_retry_base_ms)
      CARRIER_MAX_CONNECTIONS = tostring(var.carrier_max_connections)
      DISPATCHER_BATCH_SIZE   = tostring(var.dispatcher_batch_size)
      DISPATCHER_CONCURRENCY  = tostring(var.dispatcher_concurrency)
      DISPATCHER_POLL_MS      = tostring(var.dispatcher_poll_ms)
    },
    var.carrier_url == null ? {} : { CARRIER_URL = var.carrier_url },
  )
  common_env = merge(local.carrier_env, {
    NODE_ENV             = "production"
    DATABASE_URL         = local.database_url
    DB_POOL_SIZE         = tostring(var.db_pool_size)
    LOG_FORMAT           = "gcp"
    GOOGLE_CLOUD_PROJECT = var.project_id
    SHUTDOWN_TIMEOUT_MS  = "8000"
  })

  service_env = merge(local.common_env, {
    TRUST_PROXY = "1"
    DISPATCHER  = local.dispatcher_in_api ? "on" : "off"
  })
  # Environment variable => secret; pg reads PGPASSWORD itself, so the password is never in DATABASE_URL.
  service_secrets = {
    ADMIN_API_KEY = "admin-api-key"
    PGPASSWORD    = "database-password"
    REDIS_URL     = "redis-url"
  }
  # The worker serves no authenticated API, so it gets no admin key, and its metrics only on METRICS_PORT,
  # which Cloud Run does not expose: a scraper in the instance (the Managed Prometheus sidecar) reads them.
  worker_env = merge(local.common_env, {
    DISPATCHER   = "on"
    METRICS_PORT = "9464"
  })
  worker_secrets = {
    PGPASSWORD = "database-password"
    REDIS_URL  = "redis-url"
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
        # false: instance-based billing, CPU between requests too, for the dispatcher.
        cpu_idle          = !local.dispatcher_in_api
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
    precondition {
      condition     = !local.dispatcher_in_api || var.min_instances >= 1
      error_message = "The dispatcher runs in the API service (dispatcher = \"api\"): min_instances must be at least 1, or nothing reaches the carrier while no request comes. Set min_instances = 1, or dispatcher = \"worker\"."
    }
    precondition {
      condition     = var.carrier != "http" || var.carrier_url != null
      error_message = "carrier = \"http\" needs carrier_url."
    }

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

# Only with dispatcher = "worker": the dispatcher alone (`node dist/worker.js`, /healthz and /readyz on PORT),
# always on, so the API service can go back to request-based billing and scale to zero.
resource "google_cloud_run_v2_service" "worker" {
  count = local.dispatcher_in_api ? 0 : 1

  name                = "${var.service_name}-worker"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = false

  template {
    service_account = google_service_account.run.email

    scaling {
      min_instance_count = var.worker_instances
      max_instance_count = var.worker_instances
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
      image   = var.image
      command = ["node"]
      args    = ["dist/worker.js"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.worker_env

        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.worker_secrets

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
    # The deploy workflow owns the image (docs/deploy.md: a step of its own for the worker).
    ignore_changes = [
      client,
      client_version,
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
