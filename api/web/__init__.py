"""The listener web page (plain ES modules, no build step) and the API's offline documentation pages, both served
by the FastAPI app on its own origin."""
