#!/usr/bin/env python3
"""Writes the benchmark shape of the drift issue for a side-by-side run with Renovate:
100 repositories x 50 npm dependencies, as one directory with 100 sub-directories (Renovate's
local platform scans one repository per process; both tools find every package.json below the
root). Usage: scripts/gen-drift-monorepo.py <dir> [repositories] [dependencies]"""
import json
import pathlib
import sys

DEPENDENCIES = {
    "axios": "^0.27.2", "body-parser": "1.19.0", "chalk": "4.1.2", "classnames": "^2.3.1",
    "commander": "^9.0.0", "cors": "^2.8.5", "date-fns": "^2.28.0", "debug": "~4.3.1",
    "dotenv": "^16.0.0", "express": "^4.17.1", "helmet": "^5.0.2", "lodash": "^4.17.15",
    "moment": "~2.29.1", "pg": "^8.7.1", "qs": "6.10.1", "react": "^17.0.2",
    "react-dom": "^17.0.2", "semver": "^7.3.5", "uuid": "^8.3.2", "ws": "^7.4.6",
    "zod": "^3.11.0", "@babel/core": "^7.15.0", "@types/node": "^16.4.0", "eslint": "^8.0.0",
    "jest": "^27.0.6", "nodemon": "^2.0.12", "prettier": "2.6.2", "ts-node": "^10.1.0",
    "typescript": "~4.6.3", "webpack": "^5.50.0", "yargs": "^17.0.0", "minimist": "^1.2.5",
    "rimraf": "^3.0.2", "glob": "^7.2.0", "mkdirp": "^1.0.4", "fs-extra": "^10.0.0",
    "async": "^3.2.0", "bluebird": "^3.7.2", "cookie-parser": "^1.4.6", "morgan": "^1.10.0",
    "jsonwebtoken": "^8.5.1", "mongoose": "^6.2.0", "redis": "^4.0.0", "nanoid": "^3.3.1",
    "dayjs": "^1.10.7", "rxjs": "^7.5.0", "tslib": "^2.3.1", "immer": "^9.0.12",
    "graphql": "^16.3.0", "node-fetch": "^2.6.7",
}

def main() -> None:
    root = pathlib.Path(sys.argv[1])
    repositories = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    names = list(DEPENDENCIES)[:count]
    for i in range(repositories):
        repo = root / f"service-{i:03}"
        repo.mkdir(parents=True, exist_ok=True)
        manifest = {"name": f"service-{i:03}", "version": "1.0.0", "private": True,
                    "dependencies": {name: DEPENDENCIES[name] for name in names}}
        (repo / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{repositories} repositories x {len(names)} dependencies under {root}")

if __name__ == "__main__":
    main()
