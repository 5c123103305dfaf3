"""Form images in Cloud Storage, content-addressed by sha256: the same bytes are stored once."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from shared.deadlines import storage_retry, storage_timeout
from shared.errors import DependencyUnavailable, InvalidField
from shared.models import StoredImage

if TYPE_CHECKING:
    from google.cloud import storage  # type: ignore[attr-defined]

_OBJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,1000}$")
_CONTENT_ADDRESSED = re.compile(r"^images/sha256/([0-9a-f]{64})$")


class GcsImageStore:
    """Images at `gs://BUCKET/images/sha256/<hex>`; only URIs inside the configured bucket are read."""

    def __init__(self, client: storage.Client, bucket_name: str) -> None:
        self._bucket = client.bucket(bucket_name)
        self.bucket_name = bucket_name
        # Every call's retry and (connect, read) timeouts: shared.deadlines.
        self._bounded = {"retry": storage_retry(), "timeout": storage_timeout()}

    def put(self, image: bytes, content_type: str) -> StoredImage:
        from google.api_core import exceptions

        digest = hashlib.sha256(image).hexdigest()
        blob = self._bucket.blob(f"images/sha256/{digest}")
        try:
            # Create-only: a second upload of the same bytes is a no-op, not a rewrite, so a retry
            # after a timeout cannot write twice.
            blob.upload_from_string(image, content_type=content_type, if_generation_match=0, **self._bounded)
        except exceptions.PreconditionFailed:
            pass
        except exceptions.GoogleAPICallError as error:
            raise DependencyUnavailable(f"Cloud Storage refused the image: {error.message}") from error
        return StoredImage(uri=f"gs://{self.bucket_name}/{blob.name}", sha256=digest, content_type=content_type)

    def get(self, uri: str) -> bytes:
        """The bytes at `uri`; a URI outside the bucket, with `..`, or missing is InvalidField."""
        from google.api_core import exceptions

        object_name = self.object_name(uri)
        try:
            return self._bucket.blob(object_name).download_as_bytes(**self._bounded)
        except exceptions.NotFound:
            raise InvalidField(f"No image at {uri}.", details={"field": "image_uri"}) from None
        except exceptions.GoogleAPICallError as error:
            raise DependencyUnavailable(f"Cloud Storage could not be read: {error.message}") from error

    def delete(self, uri: str) -> bool:
        """Delete an image this store put (content-addressed); True when it is gone, now or before.
        An object under any other name was given by its owner (`image_uri`) and is left: False."""
        from google.api_core import exceptions

        name = self.object_name(uri)
        if not _CONTENT_ADDRESSED.match(name):
            return False
        try:
            # Retried: deleting twice is harmless (NotFound below).
            self._bucket.blob(name).delete(**self._bounded)
        except exceptions.NotFound:
            pass
        except exceptions.GoogleAPICallError as error:
            raise DependencyUnavailable(f"Cloud Storage could not delete the image: {error.message}") from error
        return True

    def describe(self, uri: str) -> StoredImage:
        """What an existing object is, without copying it: content-addressed names carry their hash;
        any other object in the bucket is read once to hash it."""
        from google.api_core import exceptions

        name = self.object_name(uri)
        match = _CONTENT_ADDRESSED.match(name)
        blob = self._bucket.blob(name)
        try:
            if match:
                blob.reload(**self._bounded)
                return StoredImage(uri=uri, sha256=match.group(1), content_type=blob.content_type or "")
            data = blob.download_as_bytes(**self._bounded)
        except exceptions.NotFound:
            raise InvalidField(f"No image at {uri}.", details={"field": "image_uri"}) from None
        except exceptions.GoogleAPICallError as error:
            raise DependencyUnavailable(f"Cloud Storage could not be read: {error.message}") from error
        return StoredImage(uri=uri, sha256=hashlib.sha256(data).hexdigest(), content_type=blob.content_type or "")

    def object_name(self, uri: str) -> str:
        prefix = f"gs://{self.bucket_name}/"
        if not uri.startswith(prefix):
            raise InvalidField(f"image_uri must be inside gs://{self.bucket_name}/.", details={"field": "image_uri"})
        name = uri[len(prefix) :]
        if not _OBJECT_NAME.fullmatch(name) or ".." in name.split("/") or "//" in name:
            raise InvalidField("image_uri is not a safe object path.", details={"field": "image_uri"})
        return name
