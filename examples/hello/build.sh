#!/bin/sh
# Written by img-build --emit-sh from Dockerfile: the build as calls of berth's step
# tools, one per step; each writes the step's JSON (image digest, cache key) to $S.
set -eu
: "${IMG_CONFIG:=img-config}" "${IMG_ADD:=img-add}" "${IMG_RUN:=img-run}"
: "${BERTH_FLAGS:=}" "${S:=.berth}"
: "${CONTEXT:=.}"
mkdir -p "$S"

# stage build
# FROM $BASE AS build
"$IMG_CONFIG" $BERTH_FLAGS --onbuild busybox:1.36 > "$S/build-4.json.tmp"
mv "$S/build-4.json.tmp" "$S/build-4.json"
# ARG GREETING=hello
"$IMG_CONFIG" $BERTH_FLAGS - -c 'ARG GREETING=hello' < "$S/build-4.json" > "$S/build-5.json.tmp"
mv "$S/build-5.json.tmp" "$S/build-5.json"
# WORKDIR /src
"$IMG_CONFIG" $BERTH_FLAGS --arg GREETING=hello - -c 'WORKDIR /src' < "$S/build-5.json" > "$S/build-6.json.tmp"
mv "$S/build-6.json.tmp" "$S/build-6.json"
# COPY src/ ./
"$IMG_ADD" $BERTH_FLAGS --arg GREETING=hello --context "$CONTEXT" --instruction 'COPY src/ ./' src/ - ./ < "$S/build-6.json" > "$S/build-7.json.tmp"
mv "$S/build-7.json.tmp" "$S/build-7.json"
# RUN sed "s/@GREETING@/$GREETING/" hello.sh.in > hello.sh && chmod 755 hello.sh
"$IMG_RUN" $BERTH_FLAGS --arg GREETING=hello --instruction 'RUN sed "s/@GREETING@/$GREETING/" hello.sh.in > hello.sh && chmod 755 hello.sh' - --shell 'sed "s/@GREETING@/$GREETING/" hello.sh.in > hello.sh && chmod 755 hello.sh' < "$S/build-7.json" > "$S/build-8.json.tmp"
mv "$S/build-8.json.tmp" "$S/build-8.json"

# stage docs
# FROM $BASE AS docs
"$IMG_CONFIG" $BERTH_FLAGS --onbuild busybox:1.36 > "$S/docs-10.json.tmp"
mv "$S/docs-10.json.tmp" "$S/docs-10.json"
# COPY README.md /usr/share/doc/hello/
"$IMG_ADD" $BERTH_FLAGS --context "$CONTEXT" --instruction 'COPY README.md /usr/share/doc/hello/' README.md - /usr/share/doc/hello/ < "$S/docs-10.json" > "$S/docs-11.json.tmp"
mv "$S/docs-11.json.tmp" "$S/docs-11.json"

# stage stage2
# FROM $BASE
"$IMG_CONFIG" $BERTH_FLAGS --onbuild busybox:1.36 > "$S/stage2-13.json.tmp"
mv "$S/stage2-13.json.tmp" "$S/stage2-13.json"
# ENV APP=/opt/hello
"$IMG_CONFIG" $BERTH_FLAGS - -c 'ENV APP=/opt/hello' < "$S/stage2-13.json" > "$S/stage2-14.json.tmp"
mv "$S/stage2-14.json.tmp" "$S/stage2-14.json"
# COPY --from=build --chown=1000:1000 /src/hello.sh $APP/bin/hello
"$IMG_ADD" $BERTH_FLAGS --stage "build=$(sed -n 's/.*"digest":"\([^"]*\)".*/\1/p' "$S/build-8.json")" --context "$CONTEXT" --instruction 'COPY --from=build --chown=1000:1000 /src/hello.sh $APP/bin/hello' /src/hello.sh - /opt/hello/bin/hello < "$S/stage2-14.json" > "$S/stage2-15.json.tmp"
mv "$S/stage2-15.json.tmp" "$S/stage2-15.json"
# COPY --from=docs /usr/share/doc/hello /usr/share/doc/hello
"$IMG_ADD" $BERTH_FLAGS --stage "docs=$(sed -n 's/.*"digest":"\([^"]*\)".*/\1/p' "$S/docs-11.json")" --context "$CONTEXT" --instruction 'COPY --from=docs /usr/share/doc/hello /usr/share/doc/hello' /usr/share/doc/hello - /usr/share/doc/hello < "$S/stage2-15.json" > "$S/stage2-16.json.tmp"
mv "$S/stage2-16.json.tmp" "$S/stage2-16.json"
# USER 1000
"$IMG_CONFIG" $BERTH_FLAGS - -c 'USER 1000' < "$S/stage2-16.json" > "$S/stage2-17.json.tmp"
mv "$S/stage2-17.json.tmp" "$S/stage2-17.json"
# CMD ["/opt/hello/bin/hello"]
"$IMG_CONFIG" $BERTH_FLAGS - -c 'CMD ["/opt/hello/bin/hello"]' -t hello < "$S/stage2-17.json" > "$S/stage2-18.json.tmp"
mv "$S/stage2-18.json.tmp" "$S/stage2-18.json"
cat "$S/stage2-18.json"
