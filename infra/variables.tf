variable "project_id" {
  description = "The Google Cloud project to deploy into."
  type        = string
}

variable "region" {
  description = "Where everything runs; São Paulo is nearest to Brazilian phones and carriers."
  type        = string
  default     = "southamerica-east1"
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose main branch and tags may deploy."
  type        = string
}

variable "service_name" {
  description = "Name of the Cloud Run service; prefixes every other resource."
  type        = string
  default     = "recharge-api"
}

variable "image" {
  description = "Image of the first revision only; every later one comes from the deploy workflow."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "min_instances" {
  description = "Instances kept warm; 0 scales to zero when idle (a cold start takes a few seconds)."
  type        = number
  default     = 0
}

variable "max_instances" {
  description = "Upper bound of instances. Keep max_instances * db_pool_size under the database's max_connections."
  type        = number
  default     = 4
}

variable "concurrency" {
  description = "Requests one instance serves at once."
  type        = number
  default     = 80
}

variable "cpu" {
  description = "vCPUs per instance."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory per instance."
  type        = string
  default     = "512Mi"
}

variable "db_pool_size" {
  description = "PostgreSQL connections per instance (DB_POOL_SIZE)."
  type        = number
  default     = 5
}

variable "db_tier" {
  description = "Cloud SQL machine type; db-f1-micro (shared core, 25 connections) is the smallest."
  type        = string
  default     = "db-f1-micro"
}

variable "db_availability_type" {
  description = "ZONAL, or REGIONAL for a standby in a second zone (twice the price)."
  type        = string
  default     = "ZONAL"
}

variable "db_disk_size_gb" {
  description = "Initial SSD size; it grows by itself."
  type        = number
  default     = 10
}

variable "redis_tier" {
  description = "BASIC (one node), or STANDARD_HA for a replica with automatic failover."
  type        = string
  default     = "BASIC"
}

variable "redis_memory_size_gb" {
  description = "Memorystore capacity in GiB."
  type        = number
  default     = 1
}

variable "run_subnet_cidr" {
  description = "Addresses for Cloud Run's Direct VPC egress: about two per instance during a deploy."
  type        = string
  default     = "10.8.0.0/24"
}

variable "allow_unauthenticated" {
  description = "Let anyone reach the service: the API checks its own bearer keys."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse to destroy the database, the service and the job."
  type        = bool
  default     = true
}
