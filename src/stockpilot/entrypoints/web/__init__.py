"""The operations dashboard: server-rendered pages (Jinja2) over the services, signed in with an API token."""
