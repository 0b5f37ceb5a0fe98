"""Agent: the cloud instance this host is, spelled as the bill's ResourceId.

Asks each cloud's metadata service in turn with short timeouts (a host outside a cloud answers
none and costs about a second at start-up):

- AWS IMDSv2: a session token by ``PUT``, then ``instance-id`` → ``i-…``;
- GCP metadata server → ``//compute.googleapis.com/projects/<project>/zones/<zone>/instances/<id>``
  (the billing export's ``resource.global_name``);
- Azure IMDS → the ARM resource id.

``--resource-id`` skips the lookup. Base URLs are parameters so tests can serve them locally.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

AWS_IMDS = "http://169.254.169.254"
GCP_METADATA = "http://metadata.google.internal"
AZURE_IMDS = "http://169.254.169.254"


@dataclass(frozen=True)
class MetadataEndpoints:
    aws: str = AWS_IMDS
    gcp: str = GCP_METADATA
    azure: str = AZURE_IMDS


def find_resource_id(
    endpoints: MetadataEndpoints | None = None, *, timeout: float = 0.3
) -> str | None:
    """The instance's ResourceId, or None when no metadata service answers."""
    chosen = endpoints or MetadataEndpoints()
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        for lookup in (_aws, _gcp, _azure):
            try:
                found = lookup(client, chosen)
            except httpx.HTTPError:
                continue
            if found:
                return found
    return None


def _aws(client: httpx.Client, at: MetadataEndpoints) -> str | None:
    token = client.put(
        f"{at.aws}/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    )
    if token.status_code != 200:
        return None
    answer = client.get(
        f"{at.aws}/latest/meta-data/instance-id",
        headers={"X-aws-ec2-metadata-token": token.text},
    )
    text = answer.text.strip()
    return text if answer.status_code == 200 and text.startswith("i-") else None


def _gcp(client: httpx.Client, at: MetadataEndpoints) -> str | None:
    headers = {"Metadata-Flavor": "Google"}
    base = f"{at.gcp}/computeMetadata/v1"
    parts = {}
    for key, path in (
        ("id", "instance/id"),
        ("zone", "instance/zone"),
        ("project", "project/project-id"),
    ):
        answer = client.get(f"{base}/{path}", headers=headers)
        if answer.status_code != 200 or answer.headers.get("Metadata-Flavor") != "Google":
            return None
        parts[key] = answer.text.strip()
    zone = parts["zone"].rsplit("/", 1)[-1]  # "projects/123/zones/us-central1-a"
    return (
        f"//compute.googleapis.com/projects/{parts['project']}/zones/{zone}/instances/{parts['id']}"
    )


def _azure(client: httpx.Client, at: MetadataEndpoints) -> str | None:
    answer = client.get(
        f"{at.azure}/metadata/instance/compute/resourceId",
        params={"api-version": "2021-02-01", "format": "text"},
        headers={"Metadata": "true"},
    )
    text = answer.text.strip()
    return text if answer.status_code == 200 and text.startswith("/subscriptions/") else None
