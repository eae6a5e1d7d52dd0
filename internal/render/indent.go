package render

import "bytes"

// appendIndent appends compact JSON (as json.Marshal writes it: no space
// between tokens) indented exactly as json.Indent would. It is a plain
// byte loop, without json.Indent's full validating scanner, which took
// two thirds of the time of rendering a 30,000-item report; the input is
// already valid, having just been encoded.
func appendIndent(dst, src []byte, prefix, indent string) []byte {
	depth := 0
	open := false // after '{' or '[': the newline waits, {} and [] stay empty
	for i := 0; i < len(src); i++ {
		c := src[i]
		if open {
			open = false
			if c == '}' || c == ']' {
				dst = append(dst, c)
				depth--
				continue
			}
			dst = appendNewline(dst, prefix, indent, depth)
		}
		switch c {
		case '"':
			end := stringEnd(src, i)
			dst = append(dst, src[i:end]...)
			i = end - 1
		case '{', '[':
			dst = append(dst, c)
			depth++
			open = true
		case ',':
			dst = append(dst, c)
			dst = appendNewline(dst, prefix, indent, depth)
		case ':':
			dst = append(dst, ':', ' ')
		case '}', ']':
			depth--
			dst = appendNewline(dst, prefix, indent, depth)
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// stringEnd returns the index after the closing quote of the JSON string
// opening at src[start].
func stringEnd(src []byte, start int) int {
	for j := start + 1; j < len(src); {
		k := bytes.IndexByte(src[j:], '"')
		if k < 0 {
			break
		}
		k += j
		escapes := 0
		for m := k - 1; m > start && src[m] == '\\'; m-- {
			escapes++
		}
		if escapes%2 == 0 {
			return k + 1
		}
		j = k + 1
	}
	return len(src)
}

func appendNewline(dst []byte, prefix, indent string, depth int) []byte {
	dst = append(dst, '\n')
	dst = append(dst, prefix...)
	for i := 0; i < depth; i++ {
		dst = append(dst, indent...)
	}
	return dst
}
