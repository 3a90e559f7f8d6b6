"""The sandbox's Ceph RGW: moto's S3 server, checking keys and signatures as RGW does.

`python -m pgrestore_sandbox.s3server -H 127.0.0.1 -p PORT` (started by sandbox/s3.py).

On CSM the bucket `postgres-backup` belongs to an RGW user whose keys are in the secret
`postgres-backup-s3-credentials` (access_key, secret_key). RGW refuses a request signed
with an unknown access key (403 InvalidAccessKeyId) or with the wrong secret key
(403 SignatureDoesNotMatch), and an unsigned one (403 AccessDenied).

moto (5.x) does the same once it enforces IAM authentication: moto/settings.py
INITIAL_NO_AUTH_ACTION_COUNT is the number of requests it serves before it starts checking
(0 here: from the first one); moto/core/authorization.py then looks the access key up among
the IAM users' keys (moto/iam/access_control.py IAMUserAccessKey) and recomputes the
SigV4 signature with that key's secret. So the RGW user is an IAM user in moto's default
account, allowed s3:*, with the sandbox's fixed keys. Its keys are set, as an RGW admin
can (`radosgw-admin key create --access-key … --secret …`), because moto's CreateAccessKey
always draws random ones.
"""

from __future__ import annotations

import argparse
import json

from moto import settings as moto_settings
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import iam_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

from .s3 import ACCESS_KEY, RGW_USER, SECRET_KEY

_ALLOW_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}

_ACCESS_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                  b"<Message>Access Denied</Message></Error>")


def add_rgw_user(user: str, access_key: str, secret_key: str) -> None:
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    iam.create_user("us-east-1", user)
    iam.put_user_policy(user, "bucket-owner", json.dumps(_ALLOW_S3))
    key = iam.create_access_key(user)
    del iam.access_keys[key.access_key_id]
    key.access_key_id, key.secret_access_key = access_key, secret_key
    iam.access_keys[access_key] = key


def refuse_unsigned(app):
    """moto answers an unsigned request with a 500 (it reads the Authorization header); RGW with 403."""
    def wrapped(environ, start_response):
        signed = "HTTP_AUTHORIZATION" in environ or "X-Amz-Signature=" in environ.get("QUERY_STRING", "")
        if signed or environ.get("PATH_INFO", "").startswith("/moto-api"):
            return app(environ, start_response)
        start_response("403 Forbidden", [("Content-Type", "application/xml"),
                                          ("Content-Length", str(len(_ACCESS_DENIED)))])
        return [_ACCESS_DENIED]
    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pgrestore_sandbox.s3server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    add_rgw_user(RGW_USER, ACCESS_KEY, SECRET_KEY)
    app = refuse_unsigned(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
