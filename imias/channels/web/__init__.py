"""What the server-rendered pages share: templates, the session cookie, CSRF."""
