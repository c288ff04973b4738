# git keeps only 0644/0755: set the modes the case is about.
chmod 0755 dir/sub/deeper/run.sh
chmod 0600 dir/private.txt
chmod 0750 dir/sub
