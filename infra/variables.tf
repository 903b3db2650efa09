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
  description = "Instances of the API kept running; at least 1 while the dispatcher runs there (dispatcher = \"api\"). 0 scales to zero when idle (a cold start takes a few seconds)."
  type        = number
  default     = 1
}

variable "max_instances" {
  description = "Upper bound of instances. Keep max_instances * (db_pool_size + 1) under the database's max_connections (docs/deploy.md)."
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
  description = "PostgreSQL connections per instance (DB_POOL_SIZE); a dispatching instance opens one more, for LISTEN."
  type        = number
  default     = 4
}

variable "dispatcher" {
  description = "Where the dispatcher runs: \"api\", in every API instance (CPU always allocated, min_instances >= 1), or \"worker\", in a service of its own (docs/deploy.md)."
  type        = string
  default     = "api"

  validation {
    condition     = contains(["api", "worker"], var.dispatcher)
    error_message = "dispatcher is \"api\" or \"worker\"."
  }
}

variable "worker_instances" {
  description = "Instances of the worker service with dispatcher = \"worker\" (always running, min = max)."
  type        = number
  default     = 1

  validation {
    condition     = var.worker_instances >= 1 && floor(var.worker_instances) == var.worker_instances
    error_message = "worker_instances is a whole number, at least 1."
  }
}

variable "carrier" {
  description = "CARRIER: \"sandbox\" (simulated, credits nothing real) or \"http\" (the carrier gateway at carrier_url)."
  type        = string
  default     = "sandbox"

  validation {
    condition     = contains(["sandbox", "http"], var.carrier)
    error_message = "carrier is \"sandbox\" or \"http\"."
  }
}

variable "carrier_url" {
  description = "CARRIER_URL, the carrier gateway's base URL; required with carrier = \"http\"."
  type        = string
  default     = null

  validation {
    condition     = var.carrier_url == null || can(regex("^https?://\\S+$", var.carrier_url))
    error_message = "carrier_url is an http:// or https:// URL."
  }
}

variable "carrier_timeout_ms" {
  description = "CARRIER_TIMEOUT_MS: how long one carrier call may take."
  type        = number
  default     = 10000
}

variable "carrier_max_attempts" {
  description = "CARRIER_MAX_ATTEMPTS: tries at sending one recharge before it fails."
  type        = number
  default     = 5
}

variable "carrier_retry_base_ms" {
  description = "CARRIER_RETRY_BASE_MS: the base delay of the backoff between tries."
  type        = number
  default     = 500
}

variable "carrier_max_connections" {
  description = "CARRIER_MAX_CONNECTIONS: HTTP connections to the carrier per instance."
  type        = number
  default     = 16
}

variable "dispatcher_batch_size" {
  description = "DISPATCHER_BATCH_SIZE: recharges one instance claims at once."
  type        = number
  default     = 64
}

variable "dispatcher_concurrency" {
  description = "DISPATCHER_CONCURRENCY: carrier calls one instance has in flight at most."
  type        = number
  default     = 256
}

variable "dispatcher_poll_ms" {
  description = "DISPATCHER_POLL_MS: how often the dispatcher looks for work it was not woken for (stored by another instance, due for a retry)."
  type        = number
  default     = 1000
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
  description = "Refuse to destroy the database, the API service and the job (the worker holds nothing)."
  type        = bool
  default     = true
}
