// Package store keeps campaigns, customers, templates, initiations and message
// states in Redis.
//
// Key layout. Everything of one campaign shares the hash tag {c:org:campaign}
// and everything of one initiation the tag {i:initiation}, so every multi-key
// script touches one Redis Cluster slot:
//
//	cs:{c:O:C}:meta        hash   data (campaign JSON), status
//	cs:{c:O:C}:ids         zset   customer id -> insertion sequence
//	cs:{c:O:C}:seq         string insertion sequence counter
//	cs:{c:O:C}:cust        hash   customer id -> record JSON
//	cs:{c:O:C}:ps:STATUS   set    customer ids by payment status
//	cs:{c:O:C}:lang:LANG   set    customer ids by lower-cased language
//	cs:{c:O:C}:fields      hash   field name -> customers that have it
//	cs:{c:O:C}:attr        hash   customer id -> "status\tlanguage\tfields" as indexed
//	cs:o:O:campaigns       zset   campaign ids by creation time
//	cs:o:O:tpl:T           string template JSON
//	cs:o:O:tpls            zset   template ids by creation time
//	cs:{i:I}:meta          hash   data (initiation JSON) and counters
//	cs:{i:I}:batch         hash   batch number -> customer ids, "\n"-joined
//	cs:{i:I}:st            hash   message number -> state
//	cs:{i:I}:rec           hash   message number -> last send record JSON
//	cs:{i:I}:done          set    batch numbers whose messages are all final
//	cs:{i:I}:dlr           hash   message number -> delivery report received early
//	cs:{i:I}:errs          list   first errors of the initiation, JSON
//	cs:o:O:inis            zset   initiation ids by creation time
//	cs:o:O:inis:C          zset   the same per campaign
//	cs:inis:active         zset   initiations that may still have pending messages
//	cs:worker:W            string alive marker of worker process W, short TTL
//	cs:runs                hash   batch run owner -> "W|initiation|batch"
//	cs:lock:NAME           string maintenance lock holder's token, with TTL
//	cs:o:O:idem:SHA        string an Idempotency-Key's record (24 h)
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$`)

// ValidID reports whether s may be used as an org, campaign, template or
// initiation id. The charset keeps ids safe inside key names and hash tags.
func ValidID(s string) bool { return idPattern.MatchString(s) }

type campaignKeys struct{ prefix string }

func ckeys(org, campaign string) campaignKeys {
	return campaignKeys{prefix: "cs:{c:" + org + ":" + campaign + "}:"}
}

func (k campaignKeys) meta() string   { return k.prefix + "meta" }
func (k campaignKeys) ids() string    { return k.prefix + "ids" }
func (k campaignKeys) seq() string    { return k.prefix + "seq" }
func (k campaignKeys) cust() string   { return k.prefix + "cust" }
func (k campaignKeys) fields() string { return k.prefix + "fields" }
func (k campaignKeys) attr() string   { return k.prefix + "attr" }

type initKeys struct{ prefix string }

func ikeys(id string) initKeys { return initKeys{prefix: "cs:{i:" + id + "}:"} }

func (k initKeys) meta() string  { return k.prefix + "meta" }
func (k initKeys) batch() string { return k.prefix + "batch" }
func (k initKeys) st() string    { return k.prefix + "st" }
func (k initKeys) rec() string   { return k.prefix + "rec" }
func (k initKeys) done() string  { return k.prefix + "done" }
func (k initKeys) dlr() string   { return k.prefix + "dlr" }
func (k initKeys) errs() string  { return k.prefix + "errs" }

func orgCampaigns(org string) string { return "cs:o:" + org + ":campaigns" }
func orgTemplate(org, id string) string {
	return "cs:o:" + org + ":tpl:" + id
}
func orgTemplates(org string) string              { return "cs:o:" + org + ":tpls" }
func orgInitiations(org string) string            { return "cs:o:" + org + ":inis" }
func orgCampaignInitiations(org, c string) string { return "cs:o:" + org + ":inis:" + c }

const activeInitiations = "cs:inis:active"

// Worker liveness (workers.go): every worker process refreshes its marker
// with a short TTL; cs:runs lists the batch runs in progress.
func workerKey(id string) string { return "cs:worker:" + id }

const runsKey = "cs:runs"

// lockKey names a maintenance lock (lock.go).
func lockKey(name string) string { return "cs:lock:" + name }

// idemKey names an Idempotency-Key's record (idempotency.go): the key is
// hashed, so any bytes a client sends stay out of key names.
func idemKey(org, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "cs:o:" + org + ":idem:" + hex.EncodeToString(sum[:])
}
