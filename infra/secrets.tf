# Secret values are generated here and so are in the Terraform state: keep the state bucket private.
resource "random_password" "admin_api_key" {
  length  = 48
  special = false
}

locals {
  secret_values = {
    admin-api-key     = random_password.admin_api_key.result
    database-password = random_password.database.result
    redis-url         = "redis://:${google_redis_instance.main.auth_string}@${google_redis_instance.main.host}:${google_redis_instance.main.port}"
  }
}

resource "google_secret_manager_secret" "app" {
  for_each = toset(["admin-api-key", "database-password", "redis-url"])

  secret_id = "${var.service_name}-${each.key}"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "app" {
  for_each = google_secret_manager_secret.app

  secret      = each.value.id
  secret_data = local.secret_values[each.key]
}
