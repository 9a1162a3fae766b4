// Package authz decides what a principal may do (DESIGN.md §5).
//
// Rights come from RbacDefinitions: each grants role bindings to subjects
// (User:<email>, Group:<name>, McpToken:<sha256>). A user holds the
// bindings naming them and the groups they are a member of; a member of the
// built-in admin group holds every right. An McpToken holds the bindings
// fixed at its creation plus those of definitions naming it, and is fenced
// to its project by the API layer.
//
// Everything is denied unless a binding grants it, and bindings only add:
// a set of bindings grants exactly the union of what each grants alone.
//
// The Policy is an immutable snapshot of groups and definitions; the
// Authorizer rebuilds it from the store when a local write invalidates it
// and at most CacheTTL after another replica's write.
package authz
