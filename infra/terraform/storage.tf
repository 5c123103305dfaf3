# Form images, content-addressed (images/sha256/<hex>): written once, never overwritten.

resource "google_storage_bucket" "images" {
  project  = var.project
  name     = module.catalog.images_bucket
  location = upper(var.region)

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  storage_class               = "STANDARD"

  # Names are content hashes, so versions add nothing; should someone turn versioning on,
  # the rule below still removes old versions.
  versioning {
    enabled = false
  }

  # A deleted image (DELETE /extract/{id}) can be restored for this long; deleted bytes are
  # billed as Standard storage until then (images are small and rarely deleted: cents).
  soft_delete_policy {
    retention_duration_seconds = var.images_soft_delete_days * 86400
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.required]
}

# objectUser (create, read; no bucket or IAM admin) for functions that store images, objectViewer
# for those that only read them. objectUser rather than objectCreator: a create-only upload of
# an image that already exists must answer 412 (precondition), not 403.
resource "google_storage_bucket_iam_member" "images" {
  for_each = module.catalog.bucket_grants

  bucket = google_storage_bucket.images.name
  role   = each.value
  member = "serviceAccount:${google_service_account.this[each.key].email}"
}
