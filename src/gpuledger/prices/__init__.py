"""GPU catalog, price book and the AWS/GCP price refreshers: used by collect and engine, owned by neither."""
