package qdrantsim

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Full-text matching through a text index: with a text index on the key,
// match text / text_any / phrase are answered by the index's tokenizer
// instead of the substring check (special_check_condition and
// check_payload_match, lib/segment/src/index/field_index/full_text_index/
// read_ops.rs and full_text_index_read.rs): text needs every query token
// in the value's tokens, text_any one of them, phrase the query's tokens
// consecutively, and an empty query matches nothing (TokenSet::has_subset,
// Document::has_phrase, inverted_index/mod.rs). Tokens come from
// tokenizers/mod.rs (word: split on non-alphanumerics; whitespace; prefix:
// every prefix of each word for documents, the word for queries;
// multilingual is approximated by word) and tokens_processor.rs
// (lowercase by default, stop words, min/max_token_len). Stemming and
// ASCII folding are not modelled; stop words are English only (the
// English list of stop_words/english.rs), other languages add none.

// textIndex is a text index's tokenizer configuration.
type textIndex struct {
	tokenizer      string
	lowercase      bool
	minLen, maxLen int // 0: unset
	stop           map[string]bool
}

// parseTextIndex returns the text index of a payload schema, or nil.
func parseTextIndex(schema json.RawMessage) *textIndex {
	if typ, err := indexType(schema); err != nil || typ != "text" {
		return nil
	}
	var p struct {
		Tokenizer   string          `json:"tokenizer"`
		Lowercase   *bool           `json:"lowercase"`
		MinTokenLen int             `json:"min_token_len"`
		MaxTokenLen int             `json:"max_token_len"`
		Stopwords   json.RawMessage `json:"stopwords"`
	}
	_ = json.Unmarshal(schema, &p)
	ti := &textIndex{tokenizer: p.Tokenizer, lowercase: p.Lowercase == nil || *p.Lowercase, minLen: p.MinTokenLen,
		maxLen: p.MaxTokenLen, stop: map[string]bool{}}
	add := func(w string) {
		if ti.lowercase {
			w = strings.ToLower(w)
		}
		ti.stop[w] = true
	}
	addLang := func(lang string) {
		if lang == "english" {
			for _, w := range englishStopwords {
				add(w)
			}
		}
	}
	var lang string
	var set struct {
		Languages []string `json:"languages"`
		Custom    []string `json:"custom"`
	}
	if json.Unmarshal(p.Stopwords, &lang) == nil {
		addLang(lang)
	} else if json.Unmarshal(p.Stopwords, &set) == nil {
		for _, l := range set.Languages {
			addLang(l)
		}
		for _, w := range set.Custom {
			add(w)
		}
	}
	return ti
}

// process is TokensProcessor::process_token.
func (ti *textIndex) process(tok string, checkMax bool) (string, bool) {
	if tok == "" {
		return "", false
	}
	if ti.lowercase {
		tok = strings.ToLower(tok)
	}
	n := utf8.RuneCountInString(tok)
	if ti.stop[tok] || ti.minLen > 0 && n < ti.minLen || checkMax && ti.maxLen > 0 && n > ti.maxLen {
		return "", false
	}
	return tok, true
}

func splitWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// tokens is Tokenizer::tokenize for a document (query false) or a query.
func (ti *textIndex) tokens(s string, query bool) []string {
	var out []string
	switch ti.tokenizer {
	case "whitespace":
		for _, w := range strings.Fields(s) {
			if t, ok := ti.process(w, true); ok {
				out = append(out, t)
			}
		}
	case "prefix":
		for _, w := range splitWords(s) {
			if query {
				if ti.lowercase {
					w = strings.ToLower(w)
				}
				r := []rune(w)
				if ti.minLen > 0 && len(r) < ti.minLen {
					continue
				}
				if ti.maxLen > 0 && len(r) > ti.maxLen {
					r = r[:ti.maxLen]
				}
				out = append(out, string(r))
				continue
			}
			t, ok := ti.process(w, false)
			if !ok {
				continue
			}
			r := []rune(t)
			from, to := max(ti.minLen, 1), len(r)
			if ti.maxLen > 0 && ti.maxLen < to {
				to = ti.maxLen
			}
			for n := from; n <= to; n++ {
				out = append(out, string(r[:n]))
			}
		}
	default:
		for _, w := range splitWords(s) {
			if t, ok := ti.process(w, true); ok {
				out = append(out, t)
			}
		}
	}
	return out
}

// check is check_payload_match for one value at the key.
func (ti *textIndex) check(m *Match, v any) bool {
	var docs []string
	switch t := v.(type) {
	case string:
		docs = []string{t}
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				docs = append(docs, s)
			}
		}
	}
	for _, doc := range docs {
		set := map[string]bool{}
		dt := ti.tokens(doc, false)
		for _, t := range dt {
			set[t] = true
		}
		switch {
		case m.Text != nil:
			q := ti.tokens(*m.Text, true)
			all := len(q) > 0
			for _, t := range q {
				all = all && set[t]
			}
			if all {
				return true
			}
		case m.TextAny != nil:
			for _, t := range ti.tokens(*m.TextAny, true) {
				if set[t] {
					return true
				}
			}
		case m.Phrase != nil:
			// A phrase is tokenized as a document.
			q := ti.tokens(*m.Phrase, false)
			if len(q) == 0 || len(dt) == 0 {
				continue
			}
			for i := 0; i+len(q) <= len(dt); i++ {
				same := true
				for j := range q {
					same = same && dt[i+j] == q[j]
				}
				if same {
					return true
				}
			}
		}
	}
	return false
}

// englishStopwords is ENGLISH_STOPWORDS (full_text_index/stop_words/
// english.rs).
var englishStopwords = []string{
	"i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "you're", "you've", "you'll",
	"you'd", "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself", "she", "she's",
	"her", "hers", "herself", "it", "it's", "its", "itself", "they", "them", "their", "theirs",
	"themselves", "what", "which", "who", "whom", "this", "that", "that'll", "these", "those", "am",
	"is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does",
	"did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until", "while",
	"of", "at", "by", "for", "with", "about", "against", "between", "into", "through", "during",
	"before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off", "over",
	"under", "again", "further", "then", "once", "here", "there", "when", "where", "why", "how",
	"all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not",
	"only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don",
	"don't", "should", "should've", "now", "d", "ll", "m", "o", "re", "ve", "y", "ain", "aren",
	"aren't", "couldn", "couldn't", "didn", "didn't", "doesn", "doesn't", "hadn", "hadn't", "hasn",
	"hasn't", "haven", "haven't", "isn", "isn't", "ma", "mightn", "mightn't", "mustn", "mustn't",
	"needn", "needn't", "shan", "shan't", "shouldn", "shouldn't", "wasn", "wasn't", "weren",
	"weren't", "won", "won't", "wouldn", "wouldn't",
}
