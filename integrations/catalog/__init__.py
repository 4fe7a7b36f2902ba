"""The operations catalog: every GoHighLevel operation of the seed, as data (operations.toml) joined with GHL's
official OpenAPI specs (ghl_spec), run from the admin or from code, each run logged.

Public API (docs/catalog.md): `selectors.catalog_operations()`, `selectors.catalog_operation()`,
`selectors.catalog_trigger_items()`, `services.catalog_execute()`, `services.catalog_raw_request()`.
"""
