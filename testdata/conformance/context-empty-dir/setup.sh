# git cannot hold empty directories.
mkdir -p empty nested/empty-too
chmod 0700 nested/empty-too
