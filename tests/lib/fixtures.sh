# Builds a small three-layer image (bottom first: l0 l1 l2) that exercises every whiteout rule and
# every kind of entry and metadata. The whiteouts are written in the format asked for:
#   aufs          .wh.NAME files and .wh..wh..opq markers (what OCI tar layers carry)
#   overlay       0/0 character devices and trusted.overlay.opaque=y
#   overlay-user  0/0 character devices and user.overlay.opaque=y
#   xattr         6.7+ xattr whiteouts: empty files with trusted.overlay.whiteout in a directory
#                 marked trusted.overlay.opaque=x
#   mixed         l1 in aufs format, l2 in overlay format
# Needs root (device nodes, owners, trusted.* xattrs), setfattr (attr) and setfacl (acl).

FIXTURE_TIME='2001-02-03 04:05:06'

# fixture_whiteout LAYER PATH FORMAT
fixture_whiteout() {
        local layer=$1 path=$2 format=$3 dir base
        dir=$(dirname "$path")
        base=$(basename "$path")
        mkdir -p "$layer/$dir"
        case $format in
        aufs) : >"$layer/$dir/.wh.$base" ;;
        overlay | overlay-user) mknod "$layer/$path" c 0 0 ;;
        xattr)
                : >"$layer/$path"
                setfattr -n trusted.overlay.whiteout -v "" "$layer/$path"
                setfattr -n trusted.overlay.opaque -v x "$layer/$dir"
                ;;
        esac
}

# fixture_opaque LAYER DIR FORMAT: DIR hides everything below it.
fixture_opaque() {
        local layer=$1 dir=$2 format=$3
        mkdir -p "$layer/$dir"
        case $format in
        aufs) : >"$layer/$dir/.wh..wh..opq" ;;
        overlay | xattr) setfattr -n trusted.overlay.opaque -v y "$layer/$dir" ;;
        overlay-user) setfattr -n user.overlay.opaque -v y "$layer/$dir" ;;
        esac
}

fixture_base_layer() {
        local l=$1
        mkdir -p "$l"/{etc/old,bin,usr/lib/x,hard,dev,run,optdir/inner,del,replace_dir/sub,data,tmp}
        echo root >"$l/etc/passwd"
        echo base >"$l/etc/hostname"
        echo keep >"$l/etc/keep"
        echo a >"$l/etc/old/a"
        echo sh >"$l/bin/sh"
        ln -s sh "$l/bin/link"
        ln -s /etc/passwd "$l/bin/abslink"
        echo lib >"$l/usr/lib/x/y.so"
        echo h >"$l/hard/a"
        ln "$l/hard/a" "$l/hard/b"
        ln "$l/hard/a" "$l/hard/c"
        mknod "$l/dev/null" c 1 3
        mknod "$l/dev/loop0" b 7 0
        mkfifo "$l/run/fifo"
        python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$l/run/sock"
        echo su >"$l/bin/su"
        chmod 4755 "$l/bin/su"
        echo sg >"$l/bin/sgid"
        chmod 2755 "$l/bin/sgid"
        chmod 1777 "$l/tmp"
        echo ping >"$l/bin/ping"
        setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 "$l/bin/ping"
        chown 1000:1000 "$l/etc/keep"
        chown -h 1001:1001 "$l/bin/link"
        setfattr -n user.test -v hello "$l/etc/keep"
        setfacl -m u:1000:rwx "$l/data"
        setfacl -m u:1000:r "$l/etc/hostname"
        truncate -s 16M "$l/data/sparse"
        printf 'middle' | dd of="$l/data/sparse" bs=1 seek=$((8 << 20)) conv=notrunc status=none
        echo inner >"$l/optdir/inner/f"
        echo o >"$l/optdir/old"
        echo me >"$l/del/me"
        echo keep >"$l/del/keep"
        echo x >"$l/replace_dir/sub/x"
        echo f >"$l/replace_file"
        echo old >"$l/recreate"
        chmod 0555 "$l/usr/lib/x"
}

fixture_middle_layer() {
        local l=$1 f=$2
        mkdir -p "$l/etc" "$l/replace_file"
        fixture_whiteout "$l" del/me "$f"
        fixture_whiteout "$l" recreate "$f"
        fixture_whiteout "$l" etc/old "$f"
        fixture_whiteout "$l" hard/b "$f"
        echo modified >"$l/etc/passwd"
        fixture_opaque "$l" optdir "$f"
        echo new >"$l/optdir/new"
        echo "now a file" >"$l/replace_dir"
        echo child >"$l/replace_file/child"
}

fixture_top_layer() {
        local l=$1 f=$2
        mkdir -p "$l/etc/old"
        echo again >"$l/recreate"
        echo top >"$l/etc/hostname"
        echo n >"$l/etc/old/n"
        # A whiteout in the bottom-most position of its name hides nothing and must vanish too.
        fixture_whiteout "$l" never/existed "$f"
}

# make_fixture DIR FORMAT: creates DIR/l0 DIR/l1 DIR/l2.
make_fixture() {
        local dir=$1 format=$2 f1 f2
        f1=$format
        f2=$format
        if [ "$format" = mixed ]; then
                f1=aufs
                f2=overlay
        fi
        mkdir -p "$dir/l0" "$dir/l1" "$dir/l2"
        fixture_base_layer "$dir/l0"
        fixture_middle_layer "$dir/l1" "$f1"
        fixture_top_layer "$dir/l2" "$f2"
        # Fixed times everywhere (directories last), so trees built at different moments compare.
        find "$dir" -depth -exec touch -h -d "$FIXTURE_TIME" {} +
}

# N layers, each overriding one shared file and adding its own (AUFS whiteouts in every tenth).
many_layers() {
        local dir=$1 n=$2 name=$3 i
        for i in $(seq -w 0 $((n - 1))); do
                mkdir -p "$dir/$name$i/shared"
                echo "$i" >"$dir/$name$i/shared/file"
                echo "$i" >"$dir/$name$i/own-$i"
                if [ $((10#$i % 10)) = 9 ]; then : >"$dir/$name$i/.wh.own-$(printf "%0${#i}d" $((10#$i - 1)))"; fi
        done
}

# check_many R N: R shows the top of N many_layers, every own- file not whited out, no marker.
check_many() {
        local R=$1 n=$2 last
        last=$(printf "%0${#n}d" $((n - 1)))
        [ "$(cat "$R/shared/file")" = "$last" ] || fail "$R/shared/file holds $(cat "$R/shared/file"), expected $last"
        [ "$(find "$R" -maxdepth 1 -name 'own-*' | wc -l)" = $((n - n / 10)) ] || fail "$R: wrong number of own- files"
        [ -z "$(find "$R" -name '.wh.*')" ] || fail "$R: AUFS markers show"
}
