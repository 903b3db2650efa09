output "service_url" {
  description = "Where the API answers."
  value       = google_cloud_run_v2_service.api.uri
}

output "image_repository" {
  description = "Where the deploy workflow pushes images."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "github_variables" {
  description = "Repository variables for .github/workflows/deploy.yml (none is a secret)."
  value = {
    GCP_PROJECT_ID                 = var.project_id
    GCP_REGION                     = var.region
    GCP_WORKLOAD_IDENTITY_PROVIDER = google_iam_workload_identity_pool_provider.github.name
    GCP_DEPLOY_SERVICE_ACCOUNT     = google_service_account.deploy.email
  }
}

output "migration_job" {
  description = "The Cloud Run job that runs `node dist/db/migrate-cli.js`."
  value       = google_cloud_run_v2_job.migrate.name
}

output "database_connection_name" {
  description = "PROJECT:REGION:INSTANCE, the directory of the socket under /cloudsql."
  value       = google_sql_database_instance.main.connection_name
}

output "admin_api_key_secret" {
  description = "Read the bootstrap admin key with: gcloud secrets versions access latest --secret=THIS"
  value       = google_secret_manager_secret.app["admin-api-key"].secret_id
}
