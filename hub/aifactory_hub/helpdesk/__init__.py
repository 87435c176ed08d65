"""Ask an expert: researchers' questions to the centre's support staff, with their context.

`bodies` says what a ticket and its context may hold (strict, bounded: the context comes from
a researcher's kernel, so it is input like any other); `tickets` applies the desk's rules to
the store. The REST handlers in `service.routes.tickets` only parse, authorise and call in here.
"""
