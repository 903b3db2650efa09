terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.20"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State lives in a bucket made once by hand (docs/deploy.md): terraform init -backend-config="bucket=NAME".
  backend "gcs" {
    prefix = "recharge-api"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
