#!/usr/bin/env bash
# A throwaway Dovecot IMAP server on 127.0.0.1 for the service e-mail tests:
#   scripts/start-dovecot.sh DIR PORT USER PASSWORD
# Config, passwd file, maildirs and sockets all live under DIR; plaintext login is
# allowed (localhost only, no TLS). Runs in the foreground: the caller stops it.
set -euo pipefail
dir=$1 port=$2 user=$3 password=$4
mkdir -p "$dir/run" "$dir/state" "$dir/mail"
uid=$(id -u) gid=$(id -g)
if [ "$uid" = 0 ]; then
  # Dovecot will not deliver mail as root: the mailbox belongs to its own system user.
  uid=$(id -u dovecot) gid=$(id -g dovecot)
  chown "$uid:$gid" "$dir/mail"
fi
echo "$user:{PLAIN}$password:$uid:$gid::$dir/mail/$user" > "$dir/passwd"
cat > "$dir/dovecot.conf" <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = $uid
first_valid_gid = $gid
default_login_user = dovenull
default_internal_user = dovecot
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
CONF
chmod 755 "$dir" "$dir/run"
exec /usr/sbin/dovecot -F -c "$dir/dovecot.conf"
