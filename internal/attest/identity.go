package attest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ErrNoIdentity says that nobody could be named.
var ErrNoIdentity = errors.New("no identity")

// Identity names who records: by when given, else git's user ("Name
// <email>"), else the Kubernetes user the client authenticates as (when
// client is not nil). The name is recorded as given, never trusted as
// proof: the store's own review (pull request, API audit log) is.
func Identity(ctx context.Context, by string, client kubernetes.Interface) (string, error) {
	if by = strings.TrimSpace(by); by != "" {
		return by, nil
	}
	if who := GitUser(); who != "" {
		return who, nil
	}
	if client == nil {
		return "", fmt.Errorf("%w: say who you are with --by NAME (git has no user.name here)", ErrNoIdentity)
	}
	who, err := KubernetesUser(ctx, client)
	if err != nil {
		return "", fmt.Errorf("%w: say who you are with --by NAME (git has no user.name here, and the cluster did not say: %v)", ErrNoIdentity, err)
	}
	return who, nil
}

// GitUser is `git config user.name`, with " <user.email>" when set; "" when
// git or the name is missing.
func GitUser() string {
	name := gitConfig("user.name")
	if name == "" {
		return ""
	}
	if email := gitConfig("user.email"); email != "" {
		return name + " <" + email + ">"
	}
	return name
}

func gitConfig(key string) string {
	out, err := exec.Command("git", "config", key).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// KubernetesUser asks the API server who the client is (a SelfSubjectReview,
// which every authenticated identity may create).
func KubernetesUser(ctx context.Context, client kubernetes.Interface) (string, error) {
	r, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	if r.Status.UserInfo.Username == "" {
		return "", errors.New("the SelfSubjectReview named no user")
	}
	return r.Status.UserInfo.Username, nil
}
