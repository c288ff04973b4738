mkdir -p sub
ln a b
ln a sub/c
