chmod 0640 passwd
