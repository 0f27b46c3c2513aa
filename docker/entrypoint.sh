#!/bin/sh
# Container start: as root, hand DATA_DIR (and the top of DOWNLOAD_DIR) to PUID:PGID,
# then run the command as that user and group. Started as another user (docker run
# --user), it only runs the command. TZ is passed on: log and admin times use it.
#   PUID, PGID        user and group ids to run as (default 1000, like the *arr images)
#   CHOWN_RECURSIVE   true: fix the owner of everything under DATA_DIR; false: only
#                     DATA_DIR itself. DOWNLOAD_DIR is shared with Sonarr, so only the
#                     folder itself is changed, never what is inside.
set -eu

fail() {
    echo "entrypoint: $*" >&2
    exit 64
}

PUID="${PUID:-1000}"
PGID="${PGID:-1000}"
DATA_DIR="${DATA_DIR:-/data}"
DOWNLOAD_DIR="${DOWNLOAD_DIR:-$DATA_DIR/downloads}"

case "$PUID" in '' | *[!0-9]*) fail "PUID=$PUID is not a user id; set it to a number such as 1000 (see 'id -u')" ;; esac
case "$PGID" in '' | *[!0-9]*) fail "PGID=$PGID is not a group id; set it to a number such as 1000 (see 'id -g')" ;; esac
case "${CHOWN_RECURSIVE:-true}" in
    [Tt]rue | 1 | [Yy]es | [Oo]n) recursive=1 ;;
    [Ff]alse | 0 | [Nn]o | [Oo]ff) recursive=0 ;;
    *) fail "CHOWN_RECURSIVE=$CHOWN_RECURSIVE is not valid; it accepts true or false" ;;
esac

cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    exec "$@"
fi

mkdir -p "$DATA_DIR" "$DOWNLOAD_DIR"
if [ "$recursive" = 1 ]; then
    # Only what is not ours yet: a large DATA_DIR is not rewritten on every start.
    find "$DATA_DIR" \( ! -user "$PUID" -o ! -group "$PGID" \) -exec chown -h "$PUID:$PGID" {} +
else
    chown "$PUID:$PGID" "$DATA_DIR"
fi
chown "$PUID:$PGID" "$DOWNLOAD_DIR"

echo "entrypoint: running as $PUID:$PGID, TZ=${TZ:-UTC}"
export HOME="$DATA_DIR"
exec setpriv --reuid="$PUID" --regid="$PGID" --clear-groups -- "$@"
