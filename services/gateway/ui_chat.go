package gateway

import "net/http"

// chatPage answers GET /ui/chat: the chat page. It is a shell with no data in
// it; ui/static/chat.js loads the conversations through /api/chat, so opening
// the page never creates a conversation (the first one is created when the
// first message is sent) and the page needs no token to load (see
// isPublicUIRequest).
func (h *handler) chatPage(w http.ResponseWriter, r *http.Request) {
	h.renderPage(w, r, "chat", newPageData("Chat", "/ui/chat"))
}

// redirectToChat sends /ui to the chat page.
func redirectToChat(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/ui/chat", http.StatusFound)
}
