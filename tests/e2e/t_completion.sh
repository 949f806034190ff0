#!/bin/bash
# atlas completion bash|zsh|fish: each script loads in its shell and
# completes commands, subcommands, options and agent names, all taken from
# the binary (atlas __complete reads the command table and --help).
# zsh and fish are checked when installed (scripts/install-deps.sh test
# installs them); without them their part is skipped and says so.
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA"
start_daemon
atlas register --path "$EXAMPLES/word-count" >/dev/null
export PATH=$BIN:$PATH

# the helper itself
expect_eq "commands" "$(atlas __complete ch | tr '\n' ' ')" "chain "
expect_eq "every command of --help is offered" "$(atlas __complete '' | wc -l)" \
    "$(($(atlas --help | sed -n '/^commands:/,/^$/p' | grep -c '^  [a-z]') + 1))"
expect_eq "subcommands from the command's usage" "$(atlas __complete chain r | tr '\n' ' ')" "register run "
expect_eq "options from the command's --help" "$(atlas __complete run --a | tr '\n' ' ')" "--async "
expect_eq "agent names from the daemon" "$(atlas __complete run wo | tr '\n' ' ')" "word-count "
run_rc rc atlas __complete run --input ''
expect_eq "a FILE/JSON value: the shell completes file names" "$rc" "1"
expect_eq "shells" "$(atlas __complete completion '' | tr '\n' ' ')" "bash zsh fish "
run_rc rc atlas --url http://127.0.0.1:9 __complete run ''
expect_eq "an unreachable daemon prints nothing" "$(cat "$T/out" "$T/err")" ""

# bash: the real completion function with COMP_WORDS as readline sets them
got=$(bash -c 'source <(atlas completion bash)
    COMP_WORDS=(atlas chain r); COMP_CWORD=2; _atlas; echo "${COMPREPLY[*]}"
    COMP_WORDS=(atlas --json ru); COMP_CWORD=2; _atlas; echo "${COMPREPLY[*]}"
    COMP_WORDS=(atlas run w); COMP_CWORD=2; _atlas; echo "${COMPREPLY[*]}"
    complete -p atlas')
expect_eq "bash: subcommands" "$(sed -n 1p <<<"$got")" "register run"
expect_eq "bash: after a global option" "$(sed -n 2p <<<"$got")" "run"
expect_eq "bash: agent names" "$(sed -n 3p <<<"$got")" "word-count"
expect_contains "bash: registered for atlas" "$(sed -n 4p <<<"$got")" "-F _atlas atlas"

if command -v zsh >/dev/null; then
    atlas completion zsh >"$T/_atlas"
    got=$(zsh -f -c "autoload -Uz compinit; compinit -u -d $T/zcd; source $T/_atlas;
        echo \${_comps[atlas]}" 2>&1)
    expect_eq "zsh: loads and registers _atlas" "$got" "_atlas"
    # compadd only works inside the completion system: stand one in
    got=$(zsh -f -c "compadd() { shift 2; print -l \${(P)1}; }; _files() { print FILES; };
        compdef() { :; }; source $T/_atlas; words=(atlas chain r); CURRENT=3; _atlas" 2>&1)
    expect_eq "zsh: subcommands" "$(echo $got)" "register run"
else
    log "skip - zsh is not installed: its script was not loaded"
fi
if command -v fish >/dev/null; then
    got=$(fish --no-config -c "atlas completion fish | source; complete -C 'atlas chain r'" 2>&1 |
        cut -f1 | tr '\n' ' ')
    expect_eq "fish: subcommands" "$got" "register run "
    got=$(fish --no-config -c "atlas completion fish | source; complete -C 'atlas run wo'" 2>&1 |
        cut -f1)
    expect_eq "fish: agent names" "$got" "word-count"
else
    log "skip - fish is not installed: its script was not loaded"
fi
run_rc rc atlas completion tcsh
expect_eq "an unknown shell: exit 2" "$rc" "2"
finish
