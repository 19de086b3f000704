package main

import (
	"errors"
	"fmt"
	"regexp"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// operatorRole is the Role the install ships with exactly what the
// plugin needs (manifests/operator-role.yaml).
const operatorRole = "qbackup-operator"

// forbiddenNamespace finds the namespace in the API server's refusal
// ("... cannot list resource "configmaps" in API group "" in the
// namespace "qdrant"").
var forbiddenNamespace = regexp.MustCompile(`in the namespace "([^"]+)"`)

// forbiddenHint is the way out of an RBAC refusal: the API server's
// message (printed before it) names the user, the verb and the resource;
// the hint names the Role that grants them and how to bind it. "" for
// any other error.
func forbiddenHint(err error) string {
	var status apierrors.APIStatus
	if !apierrors.IsForbidden(err) || !errors.As(err, &status) {
		return ""
	}
	ns := "<namespace>"
	if m := forbiddenNamespace.FindStringSubmatch(status.Status().Message); m != nil {
		ns = m[1]
	}
	return fmt.Sprintf("kubectl-qbackup: the %s Role grants every verb kubectl qbackup uses; ask an administrator to bind it to you: kubectl -n %s create rolebinding qbackup-operators --role=%s --user=<you> (or --group=<group>)",
		operatorRole, ns, operatorRole)
}
