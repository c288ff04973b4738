chmod 0600 passwd
