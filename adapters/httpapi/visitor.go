package httpapi

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
)

// The pages a visitor's browser gets after posting a plain HTML form to
// a form without redirects: in the visitor's language when Keel ships it,
// naming fields by the form's labels and stating their limits.

// Bounds of Accept-Language parsing. Browsers send a few ranges in well
// under a hundred bytes; a header past these is read up to them, so that
// a hostile one costs no more than a normal one.
const (
	maxAcceptLanguageBytes  = 512
	maxAcceptLanguageRanges = 16
)

// langRange is one language range of Accept-Language with its weight.
type langRange struct {
	tag string  // lower case, such as "fr-ch" or "*"
	q   float64 // 0 to 1
}

// parseAcceptLanguage reads the ranges of an Accept-Language header (RFC
// 9110, 12.5.4), highest weight first and in header order among equals.
// A range that is not well formed is skipped, not the header; a weight
// that does not parse counts as 0, which refuses the range.
func parseAcceptLanguage(h string) []langRange {
	if len(h) > maxAcceptLanguageBytes {
		h = h[:maxAcceptLanguageBytes]
	}
	var out []langRange
	for part := range strings.SplitSeq(h, ",") {
		if len(out) == maxAcceptLanguageRanges {
			break
		}
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		if !validLangRange(tag) {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
				continue
			}
			x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || x < 0 || x > 1 || len(strings.TrimSpace(v)) > 5 {
				x = 0
			}
			q = x
		}
		out = append(out, langRange{tag, q})
	}
	slices.SortStableFunc(out, func(a, b langRange) int { return cmp.Compare(b.q, a.q) })
	return out
}

// validLangRange accepts "*" and 1 to 8 letters followed by subtags of 1
// to 8 letters or digits, each after a hyphen.
func validLangRange(s string) bool {
	if s == "*" {
		return true
	}
	for i, sub := range strings.Split(s, "-") {
		if len(sub) < 1 || len(sub) > 8 {
			return false
		}
		for _, r := range sub {
			if !('a' <= r && r <= 'z' || i > 0 && '0' <= r && r <= '9') {
				return false
			}
		}
	}
	return true
}

// visitorLanguage picks the language of a visitor page: the first range
// by weight whose primary language Keel ships ("fr-CH" is French), English
// for "*" or when none is shipped, never a range weighted 0.
func visitorLanguage(acceptLanguage string) string {
	for _, r := range parseAcceptLanguage(acceptLanguage) {
		if r.q <= 0 {
			continue
		}
		if r.tag == "*" {
			return "en"
		}
		primary, _, _ := strings.Cut(r.tag, "-")
		if _, ok := visitorCatalog[primary]; ok {
			return primary
		}
	}
	return "en"
}

// visitorText is one language's text of the visitor pages. The field
// messages take the field's limits where they have any.
type visitorText struct {
	thanksTitle, thanks      string // thanks has %s for the form's name
	checkTitle, check, back  string
	closedTitle, closed      string
	notFoundTitle, notFound  string
	tooLargeTitle, tooLarge  string // tooLarge has %s for the limit
	limitedTitle, limited    string // limited has %s for the seconds
	unknownTitle, unknown    string
	failedTitle              string
	required, invalid        string
	email, number, url, tel  string
	date, option, multiple   string
	atLeast, atMost, between string // characters: %s, or %s and %s
	numAtLeast, numAtMost    string // numbers: %s
	numBetween, tooLong      string
	pattern                  string
}

var visitorCatalog = map[string]visitorText{
	"en": {
		thanksTitle: "Thank you", thanks: "Your submission to “%s” has been received.",
		checkTitle: "Please check your entries", check: "Some fields need your attention:",
		back:        "Use your browser’s back button to correct the form and send it again.",
		closedTitle: "This form is closed", closed: "This form no longer accepts submissions.",
		notFoundTitle: "Form not found", notFound: "This form does not exist.",
		tooLargeTitle: "Your submission is too large", tooLarge: "Send at most %s.",
		limitedTitle: "Too many submissions", limited: "Please wait %s seconds and try again.",
		unknownTitle: "The form sent unexpected fields", unknown: "The form sent fields it does not define; its author needs to fix it:",
		failedTitle: "Your submission could not be sent",
		required:    "This field is required.", invalid: "This value is not valid.",
		email: "Enter an e-mail address.", number: "Enter a number.", url: "Enter a URL starting with http:// or https://.",
		tel: "Enter a telephone number.", date: "Enter a date as YYYY-MM-DD.", option: "Choose one of the options.",
		multiple: "Give one value only.",
		atLeast:  "Use at least %s characters.", atMost: "Use at most %s characters.", between: "Use %s to %s characters.",
		numAtLeast: "Enter a number of at least %s.", numAtMost: "Enter a number of at most %s.", numBetween: "Enter a number from %s to %s.",
		tooLong: "The value is too long.", pattern: "The value does not have the expected format.",
	},
	"fr": {
		thanksTitle: "Merci", thanks: "Votre envoi au formulaire « %s » a bien été reçu.",
		checkTitle: "Veuillez vérifier vos saisies", check: "Certains champs demandent votre attention :",
		back:        "Revenez en arrière avec votre navigateur pour corriger le formulaire et l’envoyer à nouveau.",
		closedTitle: "Ce formulaire est fermé", closed: "Ce formulaire n’accepte plus d’envois.",
		notFoundTitle: "Formulaire introuvable", notFound: "Ce formulaire n’existe pas.",
		tooLargeTitle: "Votre envoi est trop volumineux", tooLarge: "Envoyez au plus %s.",
		limitedTitle: "Trop d’envois", limited: "Veuillez patienter %s secondes puis réessayer.",
		unknownTitle: "Le formulaire a envoyé des champs inattendus", unknown: "Le formulaire a envoyé des champs qu’il ne définit pas ; son auteur doit le corriger :",
		failedTitle: "Votre envoi n’a pas pu être transmis",
		required:    "Ce champ est obligatoire.", invalid: "Cette valeur n’est pas valide.",
		email: "Saisissez une adresse e-mail.", number: "Saisissez un nombre.", url: "Saisissez une URL commençant par http:// ou https://.",
		tel: "Saisissez un numéro de téléphone.", date: "Saisissez une date au format AAAA-MM-JJ.", option: "Choisissez l’une des options.",
		multiple: "Ne donnez qu’une seule valeur.",
		atLeast:  "Utilisez au moins %s caractères.", atMost: "Utilisez au plus %s caractères.", between: "Utilisez de %s à %s caractères.",
		numAtLeast: "Saisissez un nombre d’au moins %s.", numAtMost: "Saisissez un nombre d’au plus %s.", numBetween: "Saisissez un nombre de %s à %s.",
		tooLong: "La valeur est trop longue.", pattern: "La valeur n’a pas le format attendu.",
	},
	"de": {
		thanksTitle: "Vielen Dank", thanks: "Ihre Eingabe für „%s“ ist eingegangen.",
		checkTitle: "Bitte prüfen Sie Ihre Angaben", check: "Einige Felder brauchen Ihre Aufmerksamkeit:",
		back:        "Gehen Sie im Browser zurück, um das Formular zu korrigieren und erneut zu senden.",
		closedTitle: "Dieses Formular ist geschlossen", closed: "Dieses Formular nimmt keine Eingaben mehr an.",
		notFoundTitle: "Formular nicht gefunden", notFound: "Dieses Formular gibt es nicht.",
		tooLargeTitle: "Ihre Eingabe ist zu groß", tooLarge: "Senden Sie höchstens %s.",
		limitedTitle: "Zu viele Eingaben", limited: "Bitte warten Sie %s Sekunden und versuchen Sie es erneut.",
		unknownTitle: "Das Formular hat unerwartete Felder gesendet", unknown: "Das Formular hat Felder gesendet, die es nicht definiert; sein Autor muss es korrigieren:",
		failedTitle: "Ihre Eingabe konnte nicht gesendet werden",
		required:    "Dieses Feld ist erforderlich.", invalid: "Dieser Wert ist ungültig.",
		email: "Geben Sie eine E-Mail-Adresse ein.", number: "Geben Sie eine Zahl ein.", url: "Geben Sie eine URL ein, die mit http:// oder https:// beginnt.",
		tel: "Geben Sie eine Telefonnummer ein.", date: "Geben Sie ein Datum als JJJJ-MM-TT ein.", option: "Wählen Sie eine der Optionen.",
		multiple: "Geben Sie nur einen Wert an.",
		atLeast:  "Verwenden Sie mindestens %s Zeichen.", atMost: "Verwenden Sie höchstens %s Zeichen.", between: "Verwenden Sie %s bis %s Zeichen.",
		numAtLeast: "Geben Sie eine Zahl von mindestens %s ein.", numAtMost: "Geben Sie eine Zahl von höchstens %s ein.", numBetween: "Geben Sie eine Zahl von %s bis %s ein.",
		tooLong: "Der Wert ist zu lang.", pattern: "Der Wert hat nicht das erwartete Format.",
	},
	"es": {
		thanksTitle: "Gracias", thanks: "Hemos recibido su envío al formulario «%s».",
		checkTitle: "Revise sus datos", check: "Algunos campos necesitan su atención:",
		back:        "Use el botón Atrás del navegador para corregir el formulario y enviarlo de nuevo.",
		closedTitle: "Este formulario está cerrado", closed: "Este formulario ya no acepta envíos.",
		notFoundTitle: "Formulario no encontrado", notFound: "Este formulario no existe.",
		tooLargeTitle: "Su envío es demasiado grande", tooLarge: "Envíe como máximo %s.",
		limitedTitle: "Demasiados envíos", limited: "Espere %s segundos y vuelva a intentarlo.",
		unknownTitle: "El formulario envió campos inesperados", unknown: "El formulario envió campos que no define; su autor debe corregirlo:",
		failedTitle: "No se pudo enviar su envío",
		required:    "Este campo es obligatorio.", invalid: "Este valor no es válido.",
		email: "Introduzca una dirección de correo electrónico.", number: "Introduzca un número.", url: "Introduzca una URL que empiece por http:// o https://.",
		tel: "Introduzca un número de teléfono.", date: "Introduzca una fecha como AAAA-MM-DD.", option: "Elija una de las opciones.",
		multiple: "Indique un solo valor.",
		atLeast:  "Use al menos %s caracteres.", atMost: "Use como máximo %s caracteres.", between: "Use de %s a %s caracteres.",
		numAtLeast: "Introduzca un número de al menos %s.", numAtMost: "Introduzca un número de como máximo %s.", numBetween: "Introduzca un número de %s a %s.",
		tooLong: "El valor es demasiado largo.", pattern: "El valor no tiene el formato esperado.",
	},
}

// fill replaces each %s of format with the next argument, in order; the
// catalog's strings are Keel's own, so a missing argument is a bug the
// tests catch rather than a visitor's doing.
func fill(format string, args ...string) string {
	var b strings.Builder
	for i := 0; ; i++ {
		j := strings.Index(format, "%s")
		if j < 0 || i == len(args) {
			b.WriteString(format)
			return b.String()
		}
		b.WriteString(format[:j])
		b.WriteString(args[i])
		format = format[j+2:]
	}
}

func formatNumber(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// fieldMessage says, in tx's language, what is wrong with fd's value, with
// its limits where the code is about them.
func (tx visitorText) fieldMessage(fd domain.Field, code string) string {
	switch code {
	case "required":
		return tx.required
	case "invalid_email":
		return tx.email
	case "invalid_number":
		return tx.number
	case "invalid_url":
		return tx.url
	case "invalid_tel":
		return tx.tel
	case "invalid_date":
		return tx.date
	case "invalid_option":
		return tx.option
	case "multiple_values":
		return tx.multiple
	case "pattern_mismatch":
		return tx.pattern
	case "too_short", "too_long":
		switch lo, hi := fd.MinLength, fd.MaxLength; {
		case lo != nil && *lo > 0 && hi != nil:
			return fill(tx.between, strconv.Itoa(*lo), strconv.Itoa(*hi))
		case code == "too_short" && lo != nil:
			return fill(tx.atLeast, strconv.Itoa(*lo))
		case code == "too_long" && hi != nil:
			return fill(tx.atMost, strconv.Itoa(*hi))
		}
		return tx.tooLong
	case "out_of_range":
		switch lo, hi := fd.Min, fd.Max; {
		case lo != nil && hi != nil:
			return fill(tx.numBetween, formatNumber(*lo), formatNumber(*hi))
		case lo != nil:
			return fill(tx.numAtLeast, formatNumber(*lo))
		case hi != nil:
			return fill(tx.numAtMost, formatNumber(*hi))
		}
	}
	return tx.invalid
}

// formatBytes states a body limit the way a visitor reads it.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MB"
	case n >= 1<<10:
		return strconv.FormatInt(n>>10, 10) + " KB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// pageItem is one line of a page's list: a field's label and its problem.
type pageItem struct{ Label, Message string }

// visitorThanks is the page after a submission to a form without a
// success redirect.
func visitorThanks(lang string, f domain.Form) page {
	tx := visitorCatalog[lang]
	return page{Lang: lang, Title: tx.thanksTitle, Message: fill(tx.thanks, f.Name())}
}

// visitorError is the page for a refused submission, in lang. f is the
// form when it was found (its labels and limits name the fields), zero
// otherwise; maxBody is the body limit a 413 states.
func visitorError(lang string, status int, de *domain.Error, f domain.Form, maxBody int64) page {
	tx := visitorCatalog[lang]
	p := page{Lang: lang, Title: tx.failedTitle, Message: de.Message}
	switch de.Code {
	case "validation_failed":
		p.Title, p.Message, p.Hint = tx.checkTitle, tx.check, tx.back
		fields := f.Fields()
		for _, fe := range de.Fields {
			i := slices.IndexFunc(fields, func(fd domain.Field) bool { return fd.Name == fe.Field })
			fd := domain.Field{Name: fe.Field}
			if i >= 0 {
				fd = fields[i]
			}
			label := cmp.Or(fd.Label, fd.Name)
			p.Items = append(p.Items, pageItem{Label: label, Message: tx.fieldMessage(fd, fe.Code)})
		}
	case "unknown_field":
		p.Title, p.Message = tx.unknownTitle, tx.unknown
		for _, fe := range de.Fields {
			p.Items = append(p.Items, pageItem{Label: fe.Field})
		}
	case "form_closed":
		p.Title, p.Message = tx.closedTitle, tx.closed
	case "not_found":
		p.Title, p.Message = tx.notFoundTitle, tx.notFound
	case "body_too_large":
		p.Title, p.Message, p.Hint = tx.tooLargeTitle, fill(tx.tooLarge, formatBytes(maxBody)), tx.back
	case "rate_limited":
		p.Title, p.Message = tx.limitedTitle, fill(tx.limited, strconv.Itoa(retryAfterSeconds(de.RetryAfter)))
	}
	if len(p.Items) > 50 {
		p.Items = p.Items[:50]
	}
	return p
}

// retryAfterSeconds is a refusal's Retry-After in whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(d.Round(time.Second)/time.Second))
}

// Codes of an error redirect's fields parameter: a small vocabulary that
// a site's page can map to its own messages, where the API's field codes
// tell more kinds of invalid apart.
func redirectFieldCode(code string) string {
	switch code {
	case "required", "too_short", "too_long", "out_of_range":
		return code
	case "unknown_field":
		return "unknown"
	}
	return "invalid"
}

// redirectFields lists the fields at fault in an error redirect as
// name:code, for the first 20 distinct names that could be a form's
// field, so that a flood of unknown names cannot make the Location header
// unreasonably long nor break the list's syntax.
func redirectFields(errs []domain.FieldError) []string {
	var out, seen []string
	for _, fe := range errs {
		if len(out) == 20 {
			break
		}
		if !redirectableName(fe.Field) || slices.Contains(seen, fe.Field) {
			continue
		}
		seen = append(seen, fe.Field)
		out = append(out, fe.Field+":"+redirectFieldCode(fe.Code))
	}
	return out
}

// redirectableName accepts what a form's field name may be (see domain's
// field name rule): letters, digits, _ . and -, at most 64, so that no
// name brings a comma or a colon into the fields parameter.
func redirectableName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// setVisitorLanguage marks a visitor page's language and that it depends
// on Accept-Language.
func setVisitorLanguage(c http.Header, lang string) {
	c.Add("Vary", "Accept-Language")
	c.Set("Content-Language", lang)
}
