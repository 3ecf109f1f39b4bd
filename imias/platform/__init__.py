"""The platform every domain uses: database and Redis access, embedded servers,
migrations, problem documents, logs, request ids and health. It never imports a
domain package."""
