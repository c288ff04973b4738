ln -s file.txt link-to-file
ln -s dir link-to-dir
ln -s /etc/passwd absolute-link
ln -s ../file.txt dir/up-link
ln -s does-not-exist dangling
