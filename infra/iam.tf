# The identity the service and the migration job run as: it may connect to this one Cloud SQL instance
# and read this service's secrets, and nothing else.
resource "google_service_account" "run" {
  account_id   = "${var.service_name}-run"
  display_name = "${var.service_name} at run time"
}

resource "google_project_iam_member" "run_cloudsql" {
  project = var.project_id
  role    = "roles/cloudsql.client"
  member  = "serviceAccount:${google_service_account.run.email}"

  condition {
    title      = "only-${var.service_name}"
    expression = "resource.name == 'projects/${var.project_id}/instances/${google_sql_database_instance.main.name}' && resource.service == 'sqladmin.googleapis.com'"
  }
}

resource "google_secret_manager_secret_iam_member" "run" {
  for_each = google_secret_manager_secret.app

  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.run.email}"
}

# The identity GitHub Actions deploys as, through Workload Identity Federation (wif.tf): no key exists.
resource "google_service_account" "deploy" {
  account_id   = "${var.service_name}-deploy"
  display_name = "GitHub Actions deploys of ${var.service_name}"
}

# Push images to this repository only.
resource "google_artifact_registry_repository_iam_member" "deploy" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.deploy.email}"
}

# Deploy revisions, move traffic, update and execute the migration job.
resource "google_project_iam_member" "deploy_run" {
  project = var.project_id
  role    = "roles/run.developer"
  member  = "serviceAccount:${google_service_account.deploy.email}"
}

# Revisions and job executions run as the runtime account, which the deployer must be allowed to name.
resource "google_service_account_iam_member" "deploy_acts_as_run" {
  service_account_id = google_service_account.run.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.deploy.email}"
}

# The smoke test reads the catalog of a new revision with the admin key before it takes traffic.
resource "google_secret_manager_secret_iam_member" "deploy_smoke_key" {
  secret_id = google_secret_manager_secret.app["admin-api-key"].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.deploy.email}"
}
