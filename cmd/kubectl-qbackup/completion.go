package main

import (
	"fmt"
)

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish,kubectl" help:"bash, zsh or fish; kubectl prints the kubectl_complete-qbackup helper."`
}

func (c *completionCmd) Help() string {
	return `Prints a completion script. Every script asks the plugin itself
(kubectl-qbackup __complete ...) for candidates: commands, flags, enum
values, backup ids (from the installation's listing), Job names and Qdrant
pod names, kubeconfig contexts and namespaces.

For kubectl qbackup <TAB> (kubectl 1.26 or later, with kubectl's own
completion loaded), put the kubectl_complete-qbackup helper on your PATH
beside kubectl-qbackup: the release archive holds it, or

  kubectl qbackup completion kubectl > ~/bin/kubectl_complete-qbackup
  chmod +x ~/bin/kubectl_complete-qbackup

For the kubectl-qbackup binary itself:

  source <(kubectl-qbackup completion bash)         # ~/.bashrc
  source <(kubectl-qbackup completion zsh)          # ~/.zshrc, after compinit
  kubectl-qbackup completion fish | source          # ~/.config/fish/config.fish`
}

func (c *completionCmd) Run(env *runEnv) error {
	scripts := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion, "kubectl": kubectlHelper}
	_, err := fmt.Fprint(env.stdout, scripts[c.Shell])
	return err
}

// kubectlHelper is kubectl_complete-qbackup: kubectl runs it with the
// words after "kubectl qbackup" and reads cobra's protocol back.
const kubectlHelper = `#!/bin/sh
# kubectl runs kubectl_complete-qbackup (on PATH) to complete
# "kubectl qbackup ..."; the plugin answers in cobra's protocol.
exec kubectl-qbackup __complete "$@"
`

// The shell scripts below read the protocol themselves: candidates
// ("value<TAB>description") up to the ":<directive>" line. Directive bit
// 4 means no file names; without it the shell falls back to files.

const bashCompletion = `# bash completion for kubectl-qbackup
_kubectl_qbackup() {
    local cur words cword
    if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
        _get_comp_words_by_ref -n =: cur words cword
    else
        # Without bash-completion: join "--flag" "=" "value" back.
        words=()
        local i w
        for (( i = 0; i <= COMP_CWORD; i++ )); do
            w=${COMP_WORDS[i]}
            if (( ${#words[@]} > 0 )) && [[ $w == "=" || ${words[${#words[@]}-1]} == -*= ]]; then
                words[${#words[@]}-1]+=$w
            else
                words+=("$w")
            fi
        done
        cword=$(( ${#words[@]} - 1 )) cur=${words[${#words[@]}-1]}
    fi
    local out
    out=$(kubectl-qbackup __complete "${words[@]:1:cword-1}" "$cur" 2>/dev/null) || return
    local directive=${out##*:}
    local -a cands=()
    local line
    while IFS= read -r line; do
        [[ $line == :* ]] && continue
        cands+=("${line%%$'\t'*}")
    done <<<"$out"
    COMPREPLY=()
    for line in "${cands[@]}"; do
        [[ $line == "$cur"* ]] && COMPREPLY+=("$line")
    done
    # bash splits "--flag=value" at "=" (and ":"): complete the part
    # after the break only.
    local raw=${COMP_WORDS[COMP_CWORD]}
    if [[ $cur != "$raw" && $raw != "=" && $raw != ":" ]]; then
        local strip=${cur%"$raw"}
        COMPREPLY=("${COMPREPLY[@]#"$strip"}")
    elif [[ $raw == "=" || $raw == ":" ]]; then
        COMPREPLY=("${COMPREPLY[@]#"$cur"}")
    fi
    if (( ${#COMPREPLY[@]} == 0 && (directive & 4) == 0 )); then
        compopt -o default 2>/dev/null
    fi
    [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
    return 0
}
complete -F _kubectl_qbackup kubectl-qbackup
`

const zshCompletion = `#compdef kubectl-qbackup
# zsh completion for kubectl-qbackup
_kubectl_qbackup() {
    local -a lines comps
    local line directive
    lines=("${(@f)$(kubectl-qbackup __complete "${(@)words[2,CURRENT-1]}" "${words[CURRENT]}" 2>/dev/null)}")
    directive=${${lines[-1]}#:}
    for line in "${(@)lines[1,-2]}"; do
        [[ -z $line ]] && continue
        local name=${line%%$'\t'*} desc=
        [[ $line == *$'\t'* ]] && desc=${line#*$'\t'}
        name=${name//:/\\:}
        if [[ -n $desc ]]; then comps+=("$name:$desc"); else comps+=("$name"); fi
    done
    if (( ${#comps} )); then
        _describe -V 'kubectl-qbackup' comps
    elif (( (directive & 4) == 0 )); then
        _files
    fi
}
if [[ $funcstack[1] == _kubectl-qbackup ]]; then
    _kubectl_qbackup "$@"
else
    compdef _kubectl_qbackup kubectl-qbackup
fi
`

const fishCompletion = `# fish completion for kubectl-qbackup
function __kubectl_qbackup_complete
    set -l args (commandline -opc)
    set -e args[1]
    set -l out (kubectl-qbackup __complete $args (commandline -ct) 2>/dev/null)
    or return
    set -l directive (string replace -r '^:' '' -- $out[-1])
    set -e out[-1]
    if test (count $out) -eq 0; and test (math "bitand($directive, 4)") -eq 0
        __fish_complete_path (commandline -ct)
        return
    end
    printf '%s\n' $out
end
complete -c kubectl-qbackup -f -a '(__kubectl_qbackup_complete)'
`
