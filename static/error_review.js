// Decisions on the data review page: POSTed as JSON with the page's token (the server refuses
// requests without it or from another origin), shown on the card at once, kept by the server.
(function () {
  const body = document.body;
  const token = body.dataset.token;
  const header = body.dataset.tokenHeader;

  async function send(url, payload) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", [header]: token },
      body: JSON.stringify(payload),
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) throw new Error(answer.error || response.statusText);
    return answer;
  }

  function show(card, decision) {
    card.classList.remove("decided-fixed", "decided-ignored", "decided-relabel");
    const field = card.querySelector("[data-field=decision]");
    const undo = card.querySelector("button[data-decision=undo]");
    if (decision) {
      card.classList.add(`decided-${decision.decision}`);
      field.textContent = decision.decision + (decision.new_class ? ` as ${decision.new_class}` : "");
      undo.hidden = false;
    } else {
      field.textContent = "open";
      undo.hidden = true;
    }
  }

  document.querySelectorAll("[data-testid=finding]").forEach((card) => {
    const key = {
      dataset: card.dataset.dataset, split: card.dataset.split,
      index: Number(card.dataset.index), issue: card.dataset.issue,
    };
    const message = card.querySelector("[data-field=message]");
    card.querySelectorAll("button[data-decision]").forEach((button) => {
      button.addEventListener("click", async () => {
        message.textContent = "";
        const choice = button.dataset.decision;
        try {
          if (choice === "undo") {
            await send(body.dataset.undoUrl, key);
            show(card, null);
          } else {
            const payload = { ...key, decision: choice };
            if (choice === "relabel") payload.new_class = card.querySelector("[data-field=new_class]").value;
            const answer = await send(body.dataset.decideUrl, payload);
            show(card, answer.decision);
          }
        } catch (error) {
          message.textContent = `not saved: ${error.message}`;
        }
      });
    });
  });
})();
